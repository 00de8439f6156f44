"""One home per external system's low-level client: Delta tables, Kafka, Azure."""
