"""Domain logic as plain async functions taking a connection, shared by API and jobs."""
