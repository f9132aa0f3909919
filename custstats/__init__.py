"""custstats: event-sourced customer statistics for a WeCom-style SCRM."""
