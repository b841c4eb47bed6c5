// SynthCV: UnrealCV commands for synth (see ue_plugin/README.md).
using UnrealBuildTool;

public class SynthCV : ModuleRules
{
	public SynthCV(ReadOnlyTargetRules Target) : base(Target)
	{
		PCHUsage = PCHUsageMode.UseExplicitOrSharedPCHs;
		PublicDependencyModuleNames.AddRange(new string[] { "Core", "CoreUObject", "Engine" });
		// UnrealCV's command dispatcher, FExecStatus, sensors (UFusionCamSensor) and the world controller
		PrivateDependencyModuleNames.AddRange(new string[] { "UnrealCV" });
	}
}
