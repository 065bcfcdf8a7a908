//! `lnh-ldkd`: one ldk-node Lightning node per process, for lnharness.
//!
//! All state lives in `--lightning-dir`; the chain comes from a bitcoind JSON-RPC; the node
//! is driven over JSON-RPC on HTTP (methods and fields shaped like Core Lightning's). It
//! logs `lnh-ldkd ready` once it listens and has synced with the chain, and stops cleanly on
//! the `stop` method, SIGTERM or SIGINT.

mod args;
mod channels;
mod daemon;
mod events;
mod graph;
mod invoices;
mod jsonrpc;
mod logging;
mod methods;
mod payments;
mod peers;
mod server;
mod store;
mod wallet;

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use ldk_node::bitcoin::Network;
use ldk_node::config::{AnchorChannelsConfig, Config};
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::Builder;

use crate::args::{Command, Options};
use crate::daemon::Daemon;

fn main() -> ExitCode {
    match args::parse(std::env::args().skip(1)) {
        Ok(Command::Help) => {
            println!("{}", args::USAGE);
            ExitCode::SUCCESS
        }
        Ok(Command::Version) => {
            println!("{}", wallet::VERSION);
            ExitCode::SUCCESS
        }
        Ok(Command::Run(options)) => match run(&options) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                log::error!("{message}");
                eprintln!("lnh-ldkd: {message}");
                ExitCode::FAILURE
            }
        },
        Err(message) => {
            eprintln!("lnh-ldkd: {message}\n{}", args::USAGE);
            ExitCode::from(2)
        }
    }
}

fn run(options: &Options) -> Result<(), String> {
    logging::init(&options.log_level);
    let dir = &options.lightning_dir;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let secret = rpc_secret(&dir.join("rpc_secret"))?;
    let (user, password) = read_cookie(&options.bitcoin_rpc_cookie)?;
    // bind the RPC port before the node starts: a port in use fails here, cleanly
    let rpc = server::bind(&options.rpc_bind, options.rpc_port)?;

    let config = Config {
        anchor_channels_config: Some(AnchorChannelsConfig {
            per_channel_reserve_sats: options.anchor_reserve_sats,
            ..AnchorChannelsConfig::default()
        }),
        ..Config::default()
    };
    let mut builder = Builder::from_config(config);
    builder.set_network(Network::Regtest);
    builder.set_storage_dir_path(dir.to_string_lossy().into_owned());
    builder.set_log_facade_logger();
    let listen = SocketAddress::from_str(&options.listen_addr)
        .map_err(|_| format!("--addr {:?} is not HOST:PORT", options.listen_addr))?;
    builder
        .set_listening_addresses(vec![listen])
        .map_err(|e| format!("--addr: {e:?}"))?;
    if let Some(alias) = &options.alias {
        builder
            .set_node_alias(alias.clone())
            .map_err(|e| format!("--alias: {e:?}"))?;
    }
    builder.set_chain_source_bitcoind_rpc(
        options.bitcoin_rpc_host.clone(),
        options.bitcoin_rpc_port,
        user,
        password,
    );
    let node = builder
        .build()
        .map_err(|e| format!("cannot build the node: {e:?}"))?;
    node.start().map_err(|e| {
        format!(
            "cannot start the node (P2P on {}): {e}",
            options.listen_addr
        )
    })?;
    node.sync_wallets()
        .map_err(|e| format!("first chain sync failed: {e}"))?;

    let daemon = Arc::new(
        Daemon::new(node, dir).map_err(|e| format!("cannot open the daemon's records: {e}"))?,
    );
    let events = Arc::clone(&daemon);
    thread::spawn(move || events::run(events));
    let terminate = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&terminate))
            .map_err(|e| format!("cannot handle signal {signal}: {e}"))?;
    }
    log::info!(
        "lnh-ldkd ready: node {} listening on {}, RPC on {}:{}, block height {}",
        daemon.node.node_id(),
        options.listen_addr,
        options.rpc_bind,
        options.rpc_port,
        daemon.node.status().current_best_block.height
    );
    let expected_auth = Arc::new(server::basic_auth(server::RPC_USER, &secret));
    while !daemon.is_stopping() && !terminate.load(Ordering::SeqCst) {
        match rpc.recv_timeout(Duration::from_millis(100)) {
            Ok(Some(request)) => {
                server::handle(Arc::clone(&daemon), request, Arc::clone(&expected_auth))
            }
            Ok(None) => {}
            Err(e) => log::warn!("RPC listener: {e}"),
        }
    }
    daemon.request_stop();
    log::info!("lnh-ldkd stopping");
    daemon
        .node
        .stop()
        .map_err(|e| format!("stop failed: {e}"))?;
    log::info!("lnh-ldkd stopped");
    Ok(())
}

/// The RPC password: DIR/rpc_secret, created (0600, 32 random bytes in hex) if missing.
fn rpc_secret(path: &Path) -> Result<String, String> {
    if let Ok(text) = fs::read_to_string(path) {
        let text = text.trim().to_string();
        if !text.is_empty() {
            fs::set_permissions(path, fs::Permissions::from_mode(0o600))
                .map_err(|e| format!("cannot restrict {}: {e}", path.display()))?;
            return Ok(text);
        }
    }
    let mut bytes = [0u8; 32];
    fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    let secret = jsonrpc::hex(&bytes);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    file.write_all(secret.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(secret)
}

/// `user:password` from the chain's credentials file.
fn read_cookie(path: &Path) -> Result<(String, String), String> {
    let text = fs::read_to_string(path)
        .map_err(|e| format!("cannot read --bitcoin-rpccookie {}: {e}", path.display()))?;
    let (user, password) = text
        .trim()
        .split_once(':')
        .ok_or_else(|| format!("{} does not hold user:password", path.display()))?;
    Ok((user.to_string(), password.to_string()))
}
