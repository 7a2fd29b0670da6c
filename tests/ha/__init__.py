"""Tests of the Home Assistant integration in a real Home Assistant: a unit layer on the mocked
core, and tests against real servers (see conftest.py)."""
