"""Layer gossip: BOLT 7 announcements, ingest, the graph, pathfinding, our own channels' gossip and queries. Imports channel (events, ops) and the layers below only."""
