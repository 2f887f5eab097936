"""Repair: find (and fix) what a crash between the blob store and the database can leave."""
