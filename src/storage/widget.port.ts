// The widgets storage port (docs/widgets.md): every mutation is one atomic transaction that either applies
// completely or fails with a WidgetStoreError naming the broken rule; resolving means committed.

export type PortType = "P" | "R" | "Q";

export interface NewWidget {
  sn: string;
  name: string;
  /** Port types in creation order (0–3). */
  slots: PortType[];
}

export interface WidgetSlot {
  port: PortType;
  /** Serial number of the partner occupying this slot, or null when the slot is free. */
  associated_with: string | null;
}

export interface Widget {
  widget_sn: string;
  widget_name: string;
  slots: WidgetSlot[];
}

export interface WidgetPage {
  items: Widget[];
  /** The `after` value for the following page; null on the last page. */
  next: string | null;
}

/** Why a mutation was refused; the service maps each reason to its HTTP status and code. */
export type WidgetErrorReason =
  | "duplicate"
  | "widget_not_found"
  | "association_not_found"
  | "already_associated"
  | "no_free_slot"
  | "self_association"
  | "invalid_widget";

export class WidgetStoreError extends Error {
  override name = "WidgetStoreError" as const;
  constructor(
    readonly reason: WidgetErrorReason,
    message: string,
    /** The serial number the rule is about (the unknown or full widget, or the duplicate). */
    readonly sn: string | null = null,
  ) {
    super(message);
  }
}

export interface WidgetStore {
  /** Creates a widget with its free slots; `duplicate` if the serial number exists. */
  add(w: NewWidget): Promise<void>;
  /** Removes a widget and frees its partners' slots; `widget_not_found` if unknown. */
  remove(sn: string): Promise<void>;
  /**
   * Occupies one free `port` slot on each widget (the first free one in creation order).
   * `self_association`, `widget_not_found`, `already_associated`, `no_free_slot`.
   */
  associate(sn1: string, sn2: string, port: PortType): Promise<void>;
  /** Frees the pair's `port` association, in either order; `association_not_found` if none. */
  dissociate(sn1: string, sn2: string, port: PortType): Promise<void>;
  get(sn: string): Promise<Widget | null>;
  /** Widgets ordered by serial number (binary / code point order), strictly after `after`. */
  list(after: string | null, limit: number): Promise<WidgetPage>;
  /** Current number of widgets, kept without scanning. */
  count(): number;
  /** Waits for pending commits (graceful stop). */
  close(): Promise<void>;
}
