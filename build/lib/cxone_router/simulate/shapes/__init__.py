"""The three payload shapes that reach the edge (see ../shared/CXONE.md), one module each.

Each module offers `lifecycle(conversation, rng, drifted) -> list[Step]`: the events one
interaction produces from creation to completion, in order.
"""
