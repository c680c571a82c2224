"""Moved to :mod:`ckanext.dataclic.remote` (the extraction service uses it too); this name
stays for modules written against the old path."""

from ckanext.dataclic.remote import *
from ckanext.dataclic.remote import HostPolicy, RemoteClient, RemoteError, RemoteLimits, full_url

__all__ = ["HostPolicy", "RemoteClient", "RemoteError", "RemoteLimits", "full_url"]
