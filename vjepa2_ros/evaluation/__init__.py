"""Evaluating recorded runs: bags -> sub-goal metrics -> tables, plots and an HTML report."""
