//! The method table: each RPC method's parameter names (in positional order) and handler.

use serde_json::{json, Value};

use crate::daemon::Daemon;
use crate::jsonrpc::{Params, RpcError, RpcResult, METHOD_NOT_FOUND};
use crate::{channels, graph, invoices, payments, peers, wallet};

type Handler = fn(&Daemon, &Params) -> RpcResult;

/// (name, parameter names, handler); `stop` and `help` are answered by `call`.
const METHODS: &[(&str, &[&str], Handler)] = &[
    ("getinfo", &[], wallet::getinfo),
    ("newaddr", &["addresstype"], wallet::newaddr),
    ("listfunds", &["spent"], wallet::listfunds),
    ("withdraw", &["destination", "satoshi"], wallet::withdraw),
    ("sync", &[], wallet::sync),
    (
        "connect",
        &["id", "host", "port", "persist"],
        peers::connect,
    ),
    ("disconnect", &["id", "force"], peers::disconnect),
    ("listpeers", &["id", "level"], peers::listpeers),
    (
        "fundchannel",
        &["id", "amount", "push_msat", "announce"],
        channels::fundchannel,
    ),
    ("listpeerchannels", &["id"], channels::listpeerchannels),
    ("listclosedchannels", &["id"], channels::listclosedchannels),
    ("close", &["id", "unilateraltimeout"], channels::close),
    (
        "invoice",
        &["amount_msat", "label", "description", "expiry"],
        invoices::invoice,
    ),
    (
        "listinvoices",
        &["label", "invstring", "payment_hash"],
        invoices::listinvoices,
    ),
    ("waitinvoice", &["label"], invoices::waitinvoice),
    ("decodepay", &["bolt11", "description"], invoices::decodepay),
    (
        "pay",
        &["bolt11", "amount_msat", "retry_for"],
        payments::pay,
    ),
    (
        "keysend",
        &["destination", "amount_msat", "retry_for"],
        payments::keysend,
    ),
    ("listpays", &["bolt11", "payment_hash"], payments::listpays),
    (
        "getroute",
        &["id", "amount_msat", "riskfactor", "cltv"],
        graph::getroute,
    ),
    ("listchannels", &["short_channel_id"], graph::listchannels),
];

/// Whether the caller asked the daemon to stop (answered first, then acted on).
pub fn is_stop(method: &str) -> bool {
    method == "stop"
}

/// Run `method` with `raw` parameters.
pub fn call(daemon: &Daemon, method: &str, raw: Value) -> RpcResult {
    if is_stop(method) {
        Params::bind(method, raw, &[])?;
        return Ok(json!({"result": "Shutdown complete"}));
    }
    if method == "help" {
        return help(raw);
    }
    let (_, names, handler) = METHODS
        .iter()
        .find(|(name, _, _)| *name == method)
        .ok_or_else(|| RpcError::new(METHOD_NOT_FOUND, format!("Unknown command {method:?}")))?;
    handler(daemon, &Params::bind(method, raw, names)?)
}

/// `help [command]`: usage lines, Core Lightning's shape.
fn help(raw: Value) -> RpcResult {
    let params = Params::bind("help", raw, &["command"])?;
    let only = params.opt_str("command")?;
    let usage = |name: &str, names: &[&str]| json!({"command": format!("{name} {}", names.iter().map(|n| format!("[{n}]")).collect::<Vec<_>>().join(" ")).trim_end().to_string()});
    let mut entries: Vec<Value> = METHODS
        .iter()
        .filter(|(name, _, _)| only.is_none_or(|want| want == *name))
        .map(|(name, names, _)| usage(name, names))
        .collect();
    if only.is_none_or(|want| want == "stop") {
        entries.push(usage("stop", &[]));
    }
    if entries.is_empty() {
        return Err(RpcError::new(
            METHOD_NOT_FOUND,
            format!("Unknown command {:?}", only.unwrap_or("")),
        ));
    }
    Ok(json!({"help": entries}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_are_unique_and_help_lists_them() {
        let mut names: Vec<&str> = METHODS.iter().map(|(n, _, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), METHODS.len());
        let listed = help(Value::Null).unwrap();
        assert_eq!(listed["help"].as_array().unwrap().len(), METHODS.len() + 1);
        let one = help(json!({"command": "pay"})).unwrap();
        assert_eq!(
            one["help"][0]["command"],
            "pay [bolt11] [amount_msat] [retry_for]"
        );
        assert_eq!(help(json!(["nosuch"])).unwrap_err().code, METHOD_NOT_FOUND);
    }
}
