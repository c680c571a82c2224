"""Harvesters for national green datasets, built on ckanext-harvest."""
