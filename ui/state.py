"""Every ``st.session_state`` key the app uses, declared once.

Pages and helpers read and write session state through these names, never string literals,
so a typo is an import error instead of a silently empty value.
"""

WORKSPACE = "sid"  # this browser's private workspace token (also in the page address as ``ws``)
ACTIVE_MODEL = "active_model"  # the picker label of the model every page uses
SESSION_MODELS = "session_models"  # label -> MLP trained or imported in this session
JOB = "job"  # this session's TrainingJob, if any
SHOWN_JOB = "shown_job"  # the job whose finished results the Train page has shown
DATA_PROBLEM = "data_problem"  # why the dataset files on disk cannot be used ('' if fine)
IMPORTED = "imported"  # file id of the last model file imported on Home
PREDICT_RNG = "predict_rng"  # random generator for "random test image"
PREDICT_TEST_INDEX = "predict_test_index"
PREDICT_TEST_CLASS = "predict_test_class"
EXPLORE_SEED = "explore_seed"
CONFIG_PREFIX = "cfg_"  # Train form widgets: cfg_<TrainConfig field>
