"""Revision scripts of the calendar schema."""
