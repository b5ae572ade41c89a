// docs/widgets.md rules on top of the WidgetStore port: turns the store's refusal reasons into the HTTP
// errors and stable codes clients match on (the duplicate body imitates PostgreSQL/PostgREST).
import { AppError, ConflictError, NotFoundError, type ErrorBody } from "../errors.ts";
import { WidgetStoreError, type NewWidget, type PortType, type Widget, type WidgetPage, type WidgetStore } from "../storage/widget.port.ts";

/** 409 `23505`, body keys in the contract's byte order: code, details, hint, message. */
export class DuplicateWidgetError extends AppError {
  override name = "DuplicateWidgetError" as const;
  constructor(sn: string) {
    super(
      409,
      "23505",
      'duplicate key value violates unique constraint "widgets_serial_number_key"',
      `Key (serial_number)=(${sn}) already exists.`,
      null,
    );
  }
  override toBody(): ErrorBody {
    return { code: this.code, details: this.details, hint: this.hint, message: this.message } as ErrorBody;
  }
}

export function toAppError(e: unknown): unknown {
  if (!(e instanceof WidgetStoreError)) return e;
  switch (e.reason) {
    case "duplicate":
      return new DuplicateWidgetError(e.sn ?? "");
    case "widget_not_found":
      return new NotFoundError(e.message, e.sn, "widget_not_found");
    case "association_not_found":
      return new NotFoundError(e.message, null, "association_not_found");
    case "already_associated":
      return new ConflictError("already_associated", e.message, null, "remove the association first, or use another port type");
    case "no_free_slot":
      return new ConflictError(
        "no_free_slot",
        e.message,
        e.sn,
        "free a slot with remove_association, or use a widget with a free slot of that type",
      );
    case "self_association":
      return new AppError(400, "self_association", e.message, null, "name two distinct widgets");
    case "invalid_widget":
      return new AppError(400, "invalid_request", e.message);
  }
}

const mapped = async <T>(p: Promise<T>): Promise<T> => {
  try {
    return await p;
  } catch (e) {
    throw toAppError(e);
  }
};

export class WidgetsService {
  #store: WidgetStore;
  constructor(store: WidgetStore) {
    this.#store = store;
  }
  get count(): number {
    return this.#store.count();
  }
  add(w: NewWidget): Promise<void> {
    return mapped(this.#store.add(w));
  }
  remove(sn: string): Promise<void> {
    return mapped(this.#store.remove(sn));
  }
  associate(sn1: string, sn2: string, port: PortType): Promise<void> {
    return mapped(this.#store.associate(sn1, sn2, port));
  }
  dissociate(sn1: string, sn2: string, port: PortType): Promise<void> {
    return mapped(this.#store.dissociate(sn1, sn2, port));
  }
  async get(sn: string): Promise<Widget> {
    const w = await this.#store.get(sn);
    if (!w) throw new NotFoundError(`no widget ${sn}`, sn, "widget_not_found");
    return w;
  }
  list(after: string | null, limit: number): Promise<WidgetPage> {
    return this.#store.list(after, limit);
  }
}
