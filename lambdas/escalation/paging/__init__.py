"""Paging people: batching in a storm, storm detection and the hand-off notices of rotations."""
