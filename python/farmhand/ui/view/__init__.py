"""The panel's Qt-free half: what it shows and what it asks, as plain values and words.

Nothing in this package imports Qt (a test imports each module with Qt blocked):

* :mod:`~farmhand.ui.view.records` - the frozen records the widgets display and the requests they make;
* :mod:`~farmhand.ui.view.backend` - the protocols the panel reads the farm through;
* :mod:`~farmhand.ui.view.words` - states, failures and waits in an artist's words;

The widgets (``farmhand.ui.*_tab``, models, delegates, the frame grid) only render these.
"""
