"""Layer net: BOLT 8 transport, one peer connection, the peer manager and the message-handler interface it dispatches to. Imports tx, keys, wire, core only."""
