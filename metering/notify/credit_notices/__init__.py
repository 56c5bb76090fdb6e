"""Credit notices: `credits.low`, `credits.depleted`, `credits.expiring`, `credits.expired`."""
