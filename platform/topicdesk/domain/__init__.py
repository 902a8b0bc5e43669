"""Pure domain: no Flask, no SQL, no Kafka client imports."""
