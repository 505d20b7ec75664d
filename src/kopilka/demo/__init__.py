"""Demo data: a grocery program with a year and a half of realistic member history."""

from kopilka.demo.builder import Demo, DemoConfig, DemoResult, build_demo

__all__ = ["Demo", "DemoConfig", "DemoResult", "build_demo"]
