//! The cloud-api-adaptor v0.22.0 providers and the keys each one's container entry point
//! refuses to start without (docs/peerpods.md#required-keys).

use std::fmt;

/// A provider CAA v0.22.0 ships (`CLOUD_PROVIDER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Provider {
    /// Alibaba Cloud ECS.
    Alibabacloud,
    /// Amazon EC2.
    Aws,
    /// Microsoft Azure.
    Azure,
    /// Bring your own machines: a pool of pre-created VMs reached over SSH.
    Byom,
    /// Google Compute Engine.
    Gcp,
    /// IBM Cloud VPC.
    Ibmcloud,
    /// IBM Power Virtual Server.
    IbmcloudPowervs,
    /// A libvirt host reached over SSH.
    Libvirt,
}

impl Provider {
    /// Every provider, in name order.
    pub const ALL: [Provider; 8] = [
        Provider::Alibabacloud,
        Provider::Aws,
        Provider::Azure,
        Provider::Byom,
        Provider::Gcp,
        Provider::Ibmcloud,
        Provider::IbmcloudPowervs,
        Provider::Libvirt,
    ];

    /// The `CLOUD_PROVIDER` value and the key under `providerConfigs` / `providerSecrets`.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Alibabacloud => "alibabacloud",
            Provider::Aws => "aws",
            Provider::Azure => "azure",
            Provider::Byom => "byom",
            Provider::Gcp => "gcp",
            Provider::Ibmcloud => "ibmcloud",
            Provider::IbmcloudPowervs => "ibmcloud-powervs",
            Provider::Libvirt => "libvirt",
        }
    }

    /// The provider called `name`.
    pub fn parse(name: &str) -> Option<Provider> {
        Provider::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// Whether CAA connects over SSH and mounts `ssh-key-secret` (the chart's rule).
    pub fn uses_ssh_keys(self) -> bool {
        matches!(self, Provider::Libvirt | Provider::Byom)
    }

    /// Whether the release image lacks this provider (libvirt needs CGO bindings, which only
    /// the `<commit>-dev` images carry).
    pub fn needs_dev_image(self) -> bool {
        self == Provider::Libvirt
    }

    /// Configuration keys (`providerConfigs.<p>`) the entry point requires.
    pub fn required_config(self) -> &'static [&'static str] {
        match self {
            Provider::Alibabacloud => &["IMAGEID", "VSWITCH_ID"],
            Provider::Aws => &["PODVM_AMI_ID"],
            Provider::Azure => &[
                "AZURE_SUBSCRIPTION_ID",
                "AZURE_REGION",
                "AZURE_RESOURCE_GROUP",
                "AZURE_SUBNET_ID",
                "AZURE_IMAGE_ID",
            ],
            Provider::Byom => &["VM_POOL_IPS"],
            Provider::Gcp => &[
                "GCP_PROJECT_ID",
                "GCP_ZONE",
                "GCP_NETWORK",
                "PODVM_IMAGE_NAME",
            ],
            Provider::Ibmcloud => &["IBMCLOUD_PODVM_IMAGE_ID"],
            Provider::IbmcloudPowervs => &[
                "POWERVS_IMAGE_ID",
                "POWERVS_NETWORK_ID",
                "POWERVS_SERVICE_INSTANCE_ID",
                "POWERVS_ZONE",
            ],
            Provider::Libvirt => &["LIBVIRT_URI"],
        }
    }

    /// SSH key files `ssh-key-secret` must hold.
    pub fn required_ssh_keys(self) -> &'static [&'static str] {
        match self {
            Provider::Libvirt => &["id_rsa"],
            Provider::Byom => &["id_rsa", "id_rsa.pub"],
            _ => &[],
        }
    }

    /// A placeholder for a key in a `fix:` line.
    pub fn example(key: &str) -> &'static str {
        match key {
            "LIBVIRT_URI" => "qemu+ssh://root@192.168.122.1/system?no_verify=1",
            "VM_POOL_IPS" => "192.168.122.10,192.168.122.11",
            _ => "<value>",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Provider names upstream knows that v0.22.0 does not run, with why and what to do.
pub fn refused(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "vsphere" => Some((
            "`vsphere` was removed from cloud-api-adaptor (January 2026, before v0.22.0); the chart's vsphere file is stale and the CAA container would exit at start",
            "choose another provider (byom runs pods on VMs you create yourself), or stay on a CAA release that still has vSphere",
        )),
        "ibmcloudpowervs" => Some((
            "`ibmcloudpowervs` is only the chart's file name; the CAA entry point knows the provider as `ibmcloud-powervs` and would exit",
            "--set peerpods.provider=ibmcloud-powervs, with its keys under peerpods.providerConfigs.ibmcloud-powervs",
        )),
        "docker" => Some((
            "`docker` is a development provider dropped from the peerpods chart (May 2026); cococtl does not render it",
            "use libvirt for a local setup",
        )),
        _ => None,
    }
}
