"""The metering service around the pure `pricing_rules` core."""
