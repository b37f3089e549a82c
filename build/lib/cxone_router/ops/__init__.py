"""Operators' and downstream teams' tools: tail a topic, describe the topics, browse and
replay the dead letters. Each reads topics without a consumer group (it commits nothing
and moves no worker's offsets)."""
