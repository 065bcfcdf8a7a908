"""The gossip layer (BOLT 7): graph, announcements, ingest, sync with peers, our own
channels' gossip, pathfinding.

Layer: gossip, above channel and below payments. Modules here import channel (events),
services, chain, net, tx, wire and core, never payments or rpc.
"""
