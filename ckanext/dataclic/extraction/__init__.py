"""CKAN-side extraction: profiles of resources, extraction records, cache, publication.

``service`` holds the logic shared by the actions, the background jobs and the CLI;
``publication`` publishes and refreshes extracts; ``commands`` adds the CLI commands.
"""
