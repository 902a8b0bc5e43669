"""Topicdesk: self-service Kafka topics and access for producer-owned clusters."""

__version__ = "0.1.0"
