"""Tests of the pretrained zoo (forcefields.zoo)."""
