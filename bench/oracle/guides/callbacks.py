import sys

import numpy as np

if sys.argv[1] == "keras":
    import keras
else:
    import cyneuron as keras
rng = np.random.default_rng(0)
x_train = rng.random((1000, 784)).astype("float32")
y_train = rng.integers(0, 10, 1000).astype("float32")
x_test = x_train[:200]
y_test = y_train[:200]


def get_model():
    model = keras.Sequential()
    model.add(keras.layers.Dense(1))
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=0.1),
        loss="mean_squared_error",
        metrics=["mean_absolute_error"],
    )
    return model


class CustomCallback(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def _log(self, name, logs, *a):
        self.events.append((name, *a, sorted((logs or {}).keys())))

    def on_train_begin(self, logs=None):
        self._log("train_begin", logs)

    def on_train_end(self, logs=None):
        self._log("train_end", logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._log("epoch_begin", logs, epoch)

    def on_epoch_end(self, epoch, logs=None):
        self._log("epoch_end", logs, epoch)

    def on_test_begin(self, logs=None):
        self._log("test_begin", logs)

    def on_test_end(self, logs=None):
        self._log("test_end", logs)

    def on_predict_begin(self, logs=None):
        self._log("predict_begin", logs)

    def on_predict_end(self, logs=None):
        self._log("predict_end", logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._log("train_batch_begin", logs, batch)

    def on_train_batch_end(self, batch, logs=None):
        self._log("train_batch_end", logs, batch)

    def on_test_batch_begin(self, batch, logs=None):
        self._log("test_batch_begin", logs, batch)

    def on_test_batch_end(self, batch, logs=None):
        self._log("test_batch_end", logs, batch)

    def on_predict_batch_begin(self, batch, logs=None):
        self._log("predict_batch_begin", logs, batch)

    def on_predict_batch_end(self, batch, logs=None):
        self._log("predict_batch_end", logs, batch)


model = get_model()
cb = CustomCallback()
model.fit(x_train, y_train, batch_size=128, epochs=1, verbose=0, validation_split=0.5, callbacks=[cb])
res = model.evaluate(x_test, y_test, batch_size=128, verbose=0, callbacks=[cb])
res = model.predict(x_test, batch_size=128, callbacks=[cb], verbose=0)
for e in cb.events:
    print(e)


class LossAndErrorPrintingCallback(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        print("Up to batch {}, the average loss is {:7.2f}.".format(batch, logs["loss"]))

    def on_test_batch_end(self, batch, logs=None):
        print("Up to batch {}, the average loss is {:7.2f}.".format(batch, logs["loss"]))

    def on_epoch_end(self, epoch, logs=None):
        print(
            "The average loss for epoch {} is {:7.2f} and mean absolute error is {:7.2f}.".format(
                epoch, logs["loss"], logs["mean_absolute_error"]
            )
        )


model = get_model()
model.build((None, 784))
w = [np.full_like(np.asarray(v), 0.01) for v in model.get_weights()]
model.set_weights(w)
model.fit(
    x_train, y_train, batch_size=128, epochs=2, verbose=0, shuffle=False, callbacks=[LossAndErrorPrintingCallback()]
)
res = model.evaluate(x_test, y_test, batch_size=128, verbose=0, callbacks=[LossAndErrorPrintingCallback()])
print(np.round(res, 5))


class EarlyStoppingAtMinLoss(keras.callbacks.Callback):
    def __init__(self, patience=0):
        super().__init__()
        self.patience = patience
        self.best_weights = None

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = np.inf

    def on_epoch_end(self, epoch, logs=None):
        current = logs.get("loss")
        if np.less(current, self.best):
            self.best = current
            self.wait = 0
            self.best_weights = self.model.get_weights()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = epoch
                self.model.stop_training = True
                print("Restoring model weights from the end of the best epoch.")
                self.model.set_weights(self.best_weights)

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")


class CustomLearningRateScheduler(keras.callbacks.Callback):
    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule

    def on_epoch_begin(self, epoch, logs=None):
        if not hasattr(self.model.optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        lr = self.model.optimizer.learning_rate
        scheduled_lr = self.schedule(epoch, lr)
        self.model.optimizer.learning_rate = scheduled_lr
        print(f"\nEpoch {epoch}: Learning rate is {float(np.array(scheduled_lr))}.")


LR_SCHEDULE = [(3, 0.05), (6, 0.01), (9, 0.005), (12, 0.001)]


def lr_schedule(epoch, lr):
    if epoch < LR_SCHEDULE[0][0] or epoch > LR_SCHEDULE[-1][0]:
        return lr
    for i in range(len(LR_SCHEDULE)):
        if epoch == LR_SCHEDULE[i][0]:
            return LR_SCHEDULE[i][1]
    return lr


model = get_model()
model.build((None, 784))
model.set_weights(w)
h = model.fit(
    x_train,
    y_train,
    batch_size=64,
    epochs=15,
    verbose=0,
    shuffle=False,
    callbacks=[
        LossAndErrorPrintingCallback() if False else EarlyStoppingAtMinLoss(),
        CustomLearningRateScheduler(lr_schedule),
    ],
)
print({k: [round(float(v), 4) for v in vs] for k, vs in h.history.items()})
