/**
 * Ordered shutdown: steps run once, last registered first (the HTTP server, registered after the
 * ORM, closes before it). Errors in one step do not stop the others.
 */
export class Shutdown {
  #steps: { name: string; run: () => Promise<void> }[] = [];
  #running?: Promise<void>;
  readonly onError: (name: string, error: unknown) => void;

  constructor(onError: (name: string, error: unknown) => void) {
    this.onError = onError;
  }

  /** Whether shutdown has begun (what is still starting up should stop quietly). */
  get stopping(): boolean {
    return this.#running !== undefined;
  }

  add(name: string, run: () => Promise<void>) {
    this.#steps.push({ name, run });
  }

  run(): Promise<void> {
    this.#running ??= (async () => {
      for (const step of [...this.#steps].reverse()) {
        try {
          await step.run();
        } catch (error) {
          this.onError(step.name, error);
        }
      }
    })();
    return this.#running;
  }
}
