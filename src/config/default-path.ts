/** Where the configuration lives unless --config or $DECNET_UPDATER_CONFIG says otherwise. */
export const DEFAULT_CONFIG_PATH = "/etc/decnet/updater.toml";
