"""LeadLoop's local stack: real PostgreSQL and Kafka, and the five services as processes."""
