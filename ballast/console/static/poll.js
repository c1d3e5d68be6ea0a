// Live without reloading: each visible table asks again two seconds after its last answer (never two requests of one
// table at once), none while the tab is hidden, and all of a view's stop when the user leaves it.

export const INTERVAL_MS = 2000;

export class Scope {
  constructor() {
    this.stopped = false;
    this.timers = new Set();
  }

  // Runs `load` now and every `intervalMs` (a number, or a function giving one each turn) after it settles; returns a
  // function that runs it again at once (after an action, so its effect shows without waiting for the next turn).
  poll(load, intervalMs = INTERVAL_MS, onError = null) {
    let timer = null;
    let running = null;
    let again = false; // asked for while a request was out: its answer may predate what changed, so ask once more
    const run = async () => {
      clearTimeout(timer);
      this.timers.delete(timer);
      if (this.stopped) return;
      if (document.hidden) {
        document.addEventListener("visibilitychange", run, { once: true });
        return;
      }
      if (running) {
        again = true;
        return running;
      }
      running = (async () => {
        try {
          await load();
        } catch (error) {
          // The banner says what is wrong with the connection; the view's own place shows the rest.
          if (onError) onError(error);
          else if (!error || error.name !== "ApiError") console.error(error);
        } finally {
          running = null;
        }
      })();
      await running;
      if (this.stopped) return;
      if (again) {
        again = false;
        run();
        return;
      }
      timer = setTimeout(run, typeof intervalMs === "function" ? intervalMs() : intervalMs);
      this.timers.add(timer);
    };
    run();
    return run;
  }

  stop() {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}
