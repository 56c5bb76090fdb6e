"""Background jobs (APScheduler): close due periods, sync invoices, retry failures."""
