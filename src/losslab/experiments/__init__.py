"""Experiments and CLI verbs (the lab). Each module is one ``losslab`` verb."""
