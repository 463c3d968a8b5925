"""Plain words for the few terms of the trade the pages cannot avoid, shown as their help text."""
from __future__ import annotations

EVALUATION = ("An evaluation scores the model on the validation images (images it does not train on); "
              "it happens every 'Evaluate every' epochs, by default after every epoch.")
PATIENCE = ("Patience: training stops early when the validation loss has not improved for this many "
            "evaluations in a row, and keeps the best model seen. " + EVALUATION)
BEST_TRADE_OFFS = "Best trade-offs"  # the app's word for the Pareto front, in labels and legends
BEST_TRADE_OFF = ("A best trade-off (the 'Pareto front') is a run that no other run beats on both test "
                  "accuracy and training time: to gain accuracy over it you must pay with time.")
WEIGHTS_FILE = ("'A weights file I upload' starts from your own .pt/.pth file: a ResNet of the same depth "
                "(from torchvision or an earlier training); its last layer is replaced to fit your classes.")
