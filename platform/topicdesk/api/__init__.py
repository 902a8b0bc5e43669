"""Thin Flask views: parse, call one service, serialize."""
