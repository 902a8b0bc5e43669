"""Adapters to the outside world: database, Kafka, identity provider."""
