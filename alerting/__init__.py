"""Alerting: rule files, evaluation, alert state, routing, notifications."""
