"""report.html: one self-contained page showing a run (keyframes, filmstrips, timeline, seams,
nodes, config); its template (`page.html`) and style sheet (`style.css`) are files here.

May import: `engine`, `plan.timeline`, `media`, `entries`.
"""
