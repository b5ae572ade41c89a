export interface WidgetStore { readonly __placeholder?: never }
