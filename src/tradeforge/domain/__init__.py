"""Pure domain model: values, instruments, orders and their state table, fills, positions, events."""
