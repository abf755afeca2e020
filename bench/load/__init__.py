"""The load test's parts; bench/load_test.py is the entry script that drives them.

- config: the run's settings (Config) and what the sessions record (Recorder, Sample, Trainer, Queue);
- machine: the server's memory, threads and CPU from /proc, and a speed probe of the machine;
- inputs: the garment strokes drawn on the canvas and the pictures uploaded;
- page: selectors, the JavaScript probes injected in each page, and small async page helpers;
- sessions: the browser sessions (trainers, the queue checker, the drawing/uploading predictors);
- report: the result dict (latency statistics, targets) and the printed report.
"""
