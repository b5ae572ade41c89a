export interface RelayStore { readonly __placeholder?: never }
