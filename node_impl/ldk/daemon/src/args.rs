//! Command-line options of `lnh-ldkd`.

use std::path::PathBuf;

pub const USAGE: &str = "usage: lnh-ldkd [--help | --version] --lightning-dir=DIR --addr=HOST:PORT --rpc-port=PORT \
--bitcoin-rpc=HOST:PORT --bitcoin-rpccookie=FILE [--rpc-bind=HOST] [--alias=NAME] [--log-level=LEVEL] [--anchor-reserve-sats=N]

  --lightning-dir      every file of the node (created if missing; 0700)
  --addr               Lightning P2P listening address, e.g. 127.0.0.1:9735
  --rpc-port           JSON-RPC over HTTP (on --rpc-bind); user `rpc`, password in DIR/rpc_secret
  --rpc-bind           the address the JSON-RPC listens on (default 127.0.0.1; 0.0.0.0 in a
                       container, whose port is published on the host's loopback)
  --bitcoin-rpc        the chain backend's bitcoind JSON-RPC, e.g. 127.0.0.1:18443
  --bitcoin-rpccookie  a file holding `user:password` for that RPC
  --alias              node alias (at most 32 bytes); announced channels need one
  --log-level          gossip, trace, debug (default), info, warn or error
  --anchor-reserve-sats on-chain sat kept back per anchor channel (ldk-node's default is
                       25000; here 0, so a node with an empty wallet can accept channels)";

/// The daemon's settings, all from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub lightning_dir: PathBuf,
    pub listen_addr: String,
    pub rpc_port: u16,
    pub rpc_bind: String,
    pub bitcoin_rpc_host: String,
    pub bitcoin_rpc_port: u16,
    pub bitcoin_rpc_cookie: PathBuf,
    pub alias: Option<String>,
    pub log_level: String,
    pub anchor_reserve_sats: u64,
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Run(Options),
    Help,
    Version,
}

const LOG_LEVELS: [&str; 6] = ["gossip", "trace", "debug", "info", "warn", "error"];

/// Parse `--name=value` / `--name value` arguments (without the program name).
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Command, String> {
    let mut values: Vec<(String, String)> = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--help" || arg == "-h" {
            return Ok(Command::Help);
        }
        if arg == "--version" {
            return Ok(Command::Version);
        }
        let Some(flag) = arg.strip_prefix("--") else {
            return Err(format!(
                "unexpected argument {arg:?}: options are --name=value"
            ));
        };
        let (name, value) = match flag.split_once('=') {
            Some((name, value)) => (name.to_string(), value.to_string()),
            None => {
                let value = args
                    .next()
                    .ok_or_else(|| format!("option --{flag} needs a value"))?;
                (flag.to_string(), value)
            }
        };
        if values.iter().any(|(seen, _)| *seen == name) {
            return Err(format!("option --{name} given twice"));
        }
        values.push((name, value));
    }
    let mut take = |name: &str| -> Option<String> {
        let index = values.iter().position(|(seen, _)| seen == name)?;
        Some(values.remove(index).1)
    };
    let required = |value: Option<String>, name: &str| {
        value.ok_or_else(|| format!("missing required option --{name}"))
    };
    let lightning_dir = PathBuf::from(required(take("lightning-dir"), "lightning-dir")?);
    let listen_addr = required(take("addr"), "addr")?;
    split_host_port(&listen_addr, "addr")?;
    let rpc_port = parse_port(&required(take("rpc-port"), "rpc-port")?, "rpc-port")?;
    let rpc_bind = take("rpc-bind").unwrap_or_else(|| "127.0.0.1".to_string());
    if rpc_bind.is_empty() {
        return Err("option --rpc-bind must name an address".to_string());
    }
    let (bitcoin_rpc_host, bitcoin_rpc_port) = split_host_port(
        &required(take("bitcoin-rpc"), "bitcoin-rpc")?,
        "bitcoin-rpc",
    )?;
    let bitcoin_rpc_cookie =
        PathBuf::from(required(take("bitcoin-rpccookie"), "bitcoin-rpccookie")?);
    let alias = take("alias");
    if alias.as_ref().is_some_and(|a| a.len() > 32) {
        return Err("option --alias must be at most 32 bytes".to_string());
    }
    let log_level = take("log-level").unwrap_or_else(|| "debug".to_string());
    if !LOG_LEVELS.contains(&log_level.as_str()) {
        return Err(format!(
            "option --log-level must be one of {}, got {log_level:?}",
            LOG_LEVELS.join(", ")
        ));
    }
    let anchor_reserve_sats = match take("anchor-reserve-sats") {
        None => 0,
        Some(text) => text.parse::<u64>().map_err(|_| {
            format!("option --anchor-reserve-sats: {text:?} is not a number of sat")
        })?,
    };
    if let Some((name, _)) = values.first() {
        return Err(format!("unknown option --{name}"));
    }
    Ok(Command::Run(Options {
        lightning_dir,
        listen_addr,
        rpc_port,
        rpc_bind,
        bitcoin_rpc_host,
        bitcoin_rpc_port,
        bitcoin_rpc_cookie,
        alias,
        log_level,
        anchor_reserve_sats,
    }))
}

fn split_host_port(text: &str, option: &str) -> Result<(String, u16), String> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("option --{option} must be HOST:PORT, got {text:?}"))?;
    if host.is_empty() {
        return Err(format!("option --{option} must be HOST:PORT, got {text:?}"));
    }
    Ok((host.to_string(), parse_port(port, option)?))
}

fn parse_port(text: &str, option: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(format!(
            "option --{option}: {text:?} is not a port (1-65535)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    const GOOD: [&str; 5] = [
        "--lightning-dir=/tmp/n",
        "--addr=127.0.0.1:9735",
        "--rpc-port",
        "9736",
        "--bitcoin-rpc=127.0.0.1:18443",
    ];

    fn good_with(extra: &[&str]) -> Vec<String> {
        let mut all = args(&GOOD);
        all.push("--bitcoin-rpccookie=/tmp/n/cookie".to_string());
        all.extend(args(extra));
        all
    }

    #[test]
    fn parses_every_option_in_both_forms() {
        let Command::Run(options) = parse(good_with(&["--alias", "l1"])).unwrap() else {
            panic!("expected a run command");
        };
        assert_eq!(options.lightning_dir, PathBuf::from("/tmp/n"));
        assert_eq!(options.rpc_port, 9736);
        assert_eq!(options.rpc_bind, "127.0.0.1");
        assert_eq!(options.bitcoin_rpc_host, "127.0.0.1");
        assert_eq!(options.bitcoin_rpc_port, 18443);
        assert_eq!(options.alias.as_deref(), Some("l1"));
        assert_eq!(options.log_level, "debug");
        assert_eq!(options.anchor_reserve_sats, 0);
    }

    #[test]
    fn rpc_bind_is_taken_and_must_name_an_address() {
        let Command::Run(options) = parse(good_with(&["--rpc-bind=0.0.0.0"])).unwrap() else {
            panic!("expected a run command");
        };
        assert_eq!(options.rpc_bind, "0.0.0.0");
        assert!(parse(good_with(&["--rpc-bind="]))
            .unwrap_err()
            .contains("--rpc-bind must name an address"));
    }

    #[test]
    fn help_and_version_need_nothing_else() {
        assert_eq!(parse(args(&["--help"])).unwrap(), Command::Help);
        assert_eq!(parse(args(&["--version"])).unwrap(), Command::Version);
    }

    #[test]
    fn names_what_is_wrong() {
        let err = |extra: &[&str]| parse(good_with(extra)).unwrap_err();
        assert_eq!(err(&["--colour=red"]), "unknown option --colour");
        assert!(err(&["--alias=a", "--alias=b"]).contains("--alias given twice"));
        assert!(err(&["--log-level=loud"]).contains("--log-level must be one of"));
        assert!(err(&["--alias=123456789012345678901234567890123"]).contains("32 bytes"));
        assert!(err(&["--anchor-reserve-sats=lots"]).contains("not a number of sat"));
        assert!(err(&["stray"]).contains("unexpected argument \"stray\""));
        assert_eq!(
            parse(args(&["--addr=127.0.0.1:1"])).unwrap_err(),
            "missing required option --lightning-dir"
        );
        let mut bad_port = args(&GOOD);
        bad_port[3] = "70000".to_string();
        assert!(parse(bad_port)
            .unwrap_err()
            .contains("--rpc-port: \"70000\" is not a port"));
        assert!(parse(args(&["--lightning-dir"]))
            .unwrap_err()
            .contains("needs a value"));
        let no_port = vec![
            "--lightning-dir=/d".to_string(),
            "--addr=localhost".to_string(),
        ];
        assert!(parse(no_port)
            .unwrap_err()
            .contains("--addr must be HOST:PORT"));
    }
}
