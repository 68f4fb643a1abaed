"""Benchmarks: scripts that print figures (never timed tests), and the synthetic exports they
load."""
