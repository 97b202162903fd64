"""Evaluation: val loss and bits-per-byte, benchmark tasks, sampling and the report."""
