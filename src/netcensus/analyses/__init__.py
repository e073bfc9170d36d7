"""Analyses: pure functions of a trace and the module tree."""
