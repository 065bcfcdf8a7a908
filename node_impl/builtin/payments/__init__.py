"""Layer payments: onions, invoices, paying, forwarding, sendonion. Imports gossip, channel (ops, events) and the layers below only."""
