"""Checking a map: confusion matrix, metrics, area estimates, sampling design, report."""
