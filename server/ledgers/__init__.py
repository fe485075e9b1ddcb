"""Ledgers and exports (payment list, active households, visits as GeoJSON) and the county dashboard."""
