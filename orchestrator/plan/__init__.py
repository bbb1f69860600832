"""Planning: the composed job config -> a `Timeline`, checked, before anything renders.

Lives here: the timeline types (`timeline`, imported by stages, render and report), the job
checks and shot layout (`job`), segments (`segments`), a user's footage (`footage`), casts
(`cast`), audio inputs' samples (`audio_content`), music videos (`music`) and beat analysis
(`beats`, asked for through `BeatAnalysis`).

May import: `engine` (errors, progress), `media`, `schema`, `stage` (the video backend's
protocol) and itself. Never `render` or the executors: the planner runs no node.
"""
